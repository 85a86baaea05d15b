package gocache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// client speaks to a Serve over pipes, as the go command does.
type client struct {
	t    *testing.T
	in   *io.PipeWriter
	res  chan response
	done chan error
}

// startServe runs s.Serve on pipes for the test's duration, and checks
// that it announces get, put and close.
func startServe(t *testing.T, s Store) *client {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &client{t: t, in: inW, res: make(chan response, 1000), done: make(chan error, 1)}
	go func() {
		err := s.Serve(context.Background(), inR, outW)
		_ = outW.CloseWithError(io.EOF)
		c.done <- err
	}()
	go func() {
		dec := json.NewDecoder(outR)
		for {
			var r response
			if err := dec.Decode(&r); err != nil {
				close(c.res)
				return
			}
			c.res <- r
		}
	}()
	hello := c.recv()
	want := []string{cmdGet, cmdPut, cmdClose}
	if fmt.Sprint(hello.KnownCommands) != fmt.Sprint(want) || hello.ID != 0 {
		t.Fatalf("first response = %+v, want ID 0 and KnownCommands %v", hello, want)
	}
	t.Cleanup(func() { _ = inW.Close() })
	return c
}

// send writes req, then body when it has one, as the go command does.
func (c *client) send(req request, body []byte) {
	c.t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(req); err != nil {
		c.t.Fatalf("encoding %+v: %v", req, err)
	}
	buf.WriteByte('\n')
	if req.BodySize > 0 {
		buf.WriteByte('"')
		buf.WriteString(base64.StdEncoding.EncodeToString(body))
		buf.WriteString("\"\n")
	}
	if _, err := c.in.Write(buf.Bytes()); err != nil {
		c.t.Fatalf("sending %+v: %v", req, err)
	}
}

func (c *client) recv() response {
	c.t.Helper()
	select {
	case r, ok := <-c.res:
		if !ok {
			c.t.Fatalf("Serve closed its output")
		}
		return r
	case <-time.After(30 * time.Second):
		c.t.Fatalf("no response within 30s")
	}
	return response{}
}

// close sends close, and returns what Serve returned.
func (c *client) close(id int64) error {
	c.t.Helper()
	c.send(request{ID: id, Command: cmdClose}, nil)
	if r := c.recv(); r.ID != id || r.Err != "" {
		c.t.Fatalf("close answered %+v", r)
	}
	return <-c.done
}

func (c *client) put(id int64, action []byte, body []byte) response {
	c.t.Helper()
	out := sha256.Sum256(body)
	c.send(request{ID: id, Command: cmdPut, ActionID: action, OutputID: out[:], BodySize: int64(len(body))}, body)
	return c.recv()
}

func (c *client) get(id int64, action []byte) response {
	c.t.Helper()
	c.send(request{ID: id, Command: cmdGet, ActionID: action}, nil)
	return c.recv()
}

func actionID(s string) []byte {
	a := sha256.Sum256([]byte("action " + s))
	return a[:]
}

// checkHit checks that r is a hit on a file holding body.
func checkHit(t *testing.T, r response, body []byte) {
	t.Helper()
	out := sha256.Sum256(body)
	if r.Err != "" || r.Miss || !bytes.Equal(r.OutputID, out[:]) || r.Size != int64(len(body)) || r.Time == nil {
		t.Fatalf("get answered %+v, want a hit of output %x, size %d", r, out, len(body))
	}
	got, err := os.ReadFile(r.DiskPath)
	if err != nil {
		t.Fatalf("reading DiskPath: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("DiskPath %s holds %q, want %q", r.DiskPath, got, body)
	}
}

func TestServePutThenGet(t *testing.T) {
	for _, body := range [][]byte{[]byte("compiled package"), {}, bytes.Repeat([]byte{0, 1, 2, '"', '\n'}, 200<<10)} {
		t.Run(fmt.Sprint(len(body)), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "a dir")
			c := startServe(t, Store{Dir: dir})
			put := c.put(1, actionID("a"), body)
			if put.ID != 1 || put.Err != "" || !filepath.IsAbs(put.DiskPath) {
				t.Fatalf("put answered %+v", put)
			}
			got := c.get(2, actionID("a"))
			if got.ID != 2 {
				t.Fatalf("get answered ID %d, want 2", got.ID)
			}
			checkHit(t, got, body)
			if err := c.close(3); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			// A new Serve on the same Dir finds it too.
			c = startServe(t, Store{Dir: dir})
			checkHit(t, c.get(1, actionID("a")), body)
			if err := c.close(2); err != nil {
				t.Fatalf("Serve: %v", err)
			}
		})
	}
}

func TestServeGetMiss(t *testing.T) {
	c := startServe(t, Store{Dir: t.TempDir()})
	if r := c.get(7, actionID("never put")); r.ID != 7 || !r.Miss || r.Err != "" || r.DiskPath != "" {
		t.Fatalf("get answered %+v, want a miss", r)
	}
	if err := c.close(8); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestServePutRefusesWrongOutput(t *testing.T) {
	for _, tc := range []struct {
		name     string
		outputID []byte
		size     int64
		body     []byte
	}{
		{"output ID of other content", actionID("other"), 4, []byte("body")},
		{"size too small", nil, 3, []byte("body")},
		{"size too large", nil, 5, []byte("body")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := startServe(t, Store{Dir: dir, Repo: ""})
			out := tc.outputID
			if out == nil {
				sum := sha256.Sum256(tc.body)
				out = sum[:]
			}
			c.send(request{ID: 1, Command: cmdPut, ActionID: actionID("a"), OutputID: out, BodySize: tc.size}, tc.body)
			if r := c.recv(); r.ID != 1 || r.Err == "" || r.DiskPath != "" {
				t.Fatalf("put answered %+v, want an error", r)
			}
			// The stream stays in step, and nothing was kept.
			if r := c.get(2, actionID("a")); !r.Miss {
				t.Fatalf("get after a refused put answered %+v, want a miss", r)
			}
			if err := c.close(3); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if files := filesUnder(t, filepath.Join(dir, outputsDir)); len(files) != 0 {
				t.Errorf("outputs left: %v", files)
			}
		})
	}
}

func TestServeConcurrentRequests(t *testing.T) {
	c := startServe(t, Store{Dir: t.TempDir()})
	const n = 50
	bodies := map[int64][]byte{}
	for i := range int64(n) {
		body := []byte(fmt.Sprintf("output %d", i))
		bodies[i] = body
		out := sha256.Sum256(body)
		c.send(request{ID: 1 + 2*i, Command: cmdPut, ActionID: actionID(fmt.Sprint(i)), OutputID: out[:], BodySize: int64(len(body))}, body)
		// Gets go out before the responses are read: of this put, and of
		// one never put.
		c.send(request{ID: 2 + 2*i, Command: cmdGet, ActionID: actionID(fmt.Sprint("missing", i))}, nil)
	}
	seen := map[int64]bool{}
	for range 2 * n {
		r := c.recv()
		if seen[r.ID] {
			t.Fatalf("ID %d answered twice", r.ID)
		}
		seen[r.ID] = true
		switch {
		case r.ID%2 == 1 && (r.Err != "" || r.DiskPath == ""):
			t.Errorf("put %d answered %+v", r.ID, r)
		case r.ID%2 == 0 && !r.Miss:
			t.Errorf("get %d answered %+v, want a miss", r.ID, r)
		}
	}
	// Now gets of every put at once.
	for i := range int64(n) {
		c.send(request{ID: 1000 + i, Command: cmdGet, ActionID: actionID(fmt.Sprint(i))}, nil)
	}
	for range n {
		r := c.recv()
		checkHit(t, r, bodies[r.ID-1000])
	}
	if err := c.close(5000); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestServeEndsAtEOF(t *testing.T) {
	c := startServe(t, Store{Dir: t.TempDir()})
	c.put(1, actionID("a"), []byte("x"))
	if err := c.in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-c.done; err != nil {
		t.Fatalf("Serve at EOF: %v", err)
	}
}

func TestServeMalformedRequest(t *testing.T) {
	c := startServe(t, Store{Dir: t.TempDir()})
	if _, err := c.in.Write([]byte("{not json\n")); err != nil {
		t.Fatal(err)
	}
	if err := <-c.done; err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("Serve of a malformed request = %v, want an error", err)
	}
}

func TestServeBrokenBody(t *testing.T) {
	c := startServe(t, Store{Dir: t.TempDir()})
	out := sha256.Sum256([]byte("body"))
	line, err := json.Marshal(request{ID: 1, Command: cmdPut, ActionID: actionID("a"), OutputID: out[:], BodySize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.in.Write(append(line, "\n\"not base64!\"\n"...)); err != nil {
		t.Fatal(err)
	}
	if r := c.recv(); r.ID != 1 || r.Err == "" {
		t.Fatalf("put of a broken body answered %+v", r)
	}
	if err := <-c.done; err == nil {
		t.Fatalf("Serve went on after a broken body")
	}
}

// filesUnder lists the regular files under dir.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	return files
}
