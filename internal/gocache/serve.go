package gocache

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/buildercli/builder/internal/registry"
)

// Store is a Go build cache: entries on local disk in Dir, and, when Repo
// is set, shared through that registry repository.
type Store struct {
	// Dir holds the local entries; it is created if missing.
	Dir string
	// Repo is "" for a local cache only, else REGISTRY/NAME, e.g.
	// localhost:5000/cache/go.
	Repo string
	// Registry reaches Repo, with credentials as for publish. Serve,
	// Check and Prefetch use its Keychain and Insecure over a transport of
	// their own that fails fast; Upload uses it as it is.
	Registry registry.Client
	// Index names the kind of build (say, a hash of the main packages,
	// the platform and the Go version), any string: Upload publishes, under
	// a tag derived from it, the actions the Serves since the last Upload
	// used, and Prefetch fetches them. "" publishes and prefetches nothing.
	// Only Upload and Prefetch read it.
	Index string
	// Run names one run of builder, in hex: the Serves of a run leave
	// their notes and lists of used actions under its name, and its
	// TakeNotes and Upload read only those, so that runs sharing Dir at
	// once keep them apart. "" shares them with every other "" run.
	Run string
}

// Serve speaks the GOCACHEPROG protocol on r and w until the go command
// closes it. Requests are answered concurrently, each response carrying
// its request's ID. A put is kept on disk (and marked for Upload when Repo
// is set); a get is answered from disk, else from Repo while it answers.
// The first failure of Repo turns it off, for this Serve and for those
// that start while its note (see TakeNotes) is waiting and recent.
func (s Store) Serve(ctx context.Context, r io.Reader, w io.Writer) error {
	d, err := s.open()
	if err != nil {
		return err
	}
	sv := &server{s: s, d: d, out: newResponseWriter(w)}
	if s.Repo != "" {
		sv.used = &usedLog{seen: map[string]bool{}}
		sv.remote, err = newRemoteCache(s, s.noteOff(d))
		if err != nil {
			return err
		}
		// A Serve of the same build found Repo failing: it is not asked
		// again until the caller has taken the note.
		if d.freshNote(s.Run, time.Now()) {
			sv.remote.off.Store(true)
		}
	}
	if err := sv.out.write(&response{KnownCommands: []string{cmdGet, cmdPut, cmdClose}}); err != nil {
		return err
	}
	err = sv.loop(ctx, newRequestReader(r))
	sv.used.save(d, s.Run)
	return err
}

// server is the state of one Serve.
type server struct {
	s      Store
	d      disk
	remote *remoteCache // nil when local only
	out    *responseWriter
	wg     sync.WaitGroup
	used   *usedLog // nil when local only

	mu   sync.Mutex
	werr error // the first failure to write a response
}

func (sv *server) loop(ctx context.Context, rr *requestReader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for {
		req, err := rr.next()
		if errors.Is(err, io.EOF) {
			sv.wg.Wait()
			return sv.writeErr()
		}
		if err != nil {
			sv.wg.Wait()
			return err
		}
		switch req.Command {
		case cmdPut:
			// The body follows the request: it is read here, in order.
			res, err := sv.put(rr, req)
			sv.respond(res)
			if err != nil {
				sv.wg.Wait()
				return err
			}
		case cmdGet:
			sv.wg.Add(1)
			go func() {
				defer sv.wg.Done()
				sv.respond(sv.get(ctx, req))
			}()
		case cmdClose:
			sv.wg.Wait()
			sv.d.trimDaily(time.Now())
			sv.respond(&response{ID: req.ID})
			return sv.writeErr()
		default:
			sv.respond(&response{ID: req.ID, Err: fmt.Sprintf("unknown command %q", req.Command)})
		}
		if err := sv.writeErr(); err != nil {
			sv.wg.Wait()
			return err
		}
	}
}

func (sv *server) respond(res *response) {
	if err := sv.out.write(res); err != nil {
		sv.mu.Lock()
		if sv.werr == nil {
			sv.werr = err
		}
		sv.mu.Unlock()
	}
}

func (sv *server) writeErr() error {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.werr
}

// put reads req's body and keeps it as req's output, refusing a body
// whose SHA-256 or size is not what req says. The body is read whatever
// happens, to stay in step with the stream; an error reading it is
// returned, as the stream cannot be read further.
func (sv *server) put(rr *requestReader, req *request) (*response, error) {
	action, output := hex.EncodeToString(req.ActionID), hex.EncodeToString(req.OutputID)
	read := false
	var readErr error
	fill := func(w io.Writer) (int64, error) {
		read = true
		if req.BodySize == 0 {
			return 0, nil
		}
		n, err := rr.body(w)
		readErr = err
		return n, err
	}
	var res *response
	if !isHexID(action) || !isHexID(output) || req.BodySize < 0 {
		res = &response{ID: req.ID, Err: fmt.Sprintf("put %d: action and output IDs must be SHA-256 hashes", req.ID)}
	} else if path, err := sv.d.storeOutputWith(output, req.BodySize, fill); err != nil {
		res = &response{ID: req.ID, Err: err.Error()}
	} else {
		e := entry{action: action, output: output, size: req.BodySize, time: time.Now()}
		res = &response{ID: req.ID, DiskPath: path}
		if err := sv.d.record(e, sv.s.Repo != ""); err != nil {
			res = &response{ID: req.ID, Err: err.Error()}
		} else {
			sv.used.add(action)
		}
	}
	if !read {
		_, _ = fill(io.Discard)
	}
	return res, readErr
}

// get answers from disk, else from Repo, else with a miss.
func (sv *server) get(ctx context.Context, req *request) *response {
	action := hex.EncodeToString(req.ActionID)
	if !isHexID(action) {
		return &response{ID: req.ID, Miss: true}
	}
	sv.used.add(action)
	e, ok := sv.d.lookup(action)
	if ok {
		sv.d.touch(e)
	}
	if !ok && sv.remote != nil {
		var err error
		e, _, err = sv.remote.get(ctx, sv.d, action)
		ok = err == nil
	}
	if !ok {
		return &response{ID: req.ID, Miss: true}
	}
	out, err := hex.DecodeString(e.output)
	if err != nil {
		return &response{ID: req.ID, Miss: true}
	}
	t := e.time
	return &response{ID: req.ID, OutputID: out, Size: e.size, Time: &t, DiskPath: sv.d.outputPath(e.output)}
}
