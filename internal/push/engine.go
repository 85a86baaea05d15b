package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/buildercli/builder/internal/build"
)

// DefaultEngineHost is where the engine is when DOCKER_HOST is not set.
const DefaultEngineHost = "unix:///var/run/docker.sock"

// ErrLoadIndex refuses to load several platforms' images into an engine.
var ErrLoadIndex = errors.New("--load sends one platform's image: give one --platform (the engine's), or use --oci-layout DIR for several")

// Engine is a container engine that serves the Docker Engine API (Docker,
// or podman's `podman system service`) at Host, in DOCKER_HOST's syntax:
// unix:///PATH, or tcp://HOST:PORT without TLS; "" for DefaultEngineHost.
// The image is sent to it as the body of POST /images/load, in the format
// of Tarball; no engine CLI is run.
type Engine struct {
	Host string
}

// connectTimeout bounds connecting to the engine and its first answer to a
// ping; loading has no bound but the context's.
const connectTimeout = 5 * time.Second

// Deliver implements Destination: it loads b's image under b.Ref and says
// what the engine loaded.
func (e Engine) Deliver(ctx context.Context, b build.Result, log io.Writer) error {
	if b.Image == nil {
		return ErrLoadIndex
	}
	c, base, err := e.client()
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := WriteArchive(pw, b.Image, []name.Tag{b.Ref})
		pw.CloseWithError(err)
		written <- err
	}()
	loaded, err := e.load(ctx, c, base+"/images/load?quiet=1", pr)
	_ = pr.CloseWithError(errors.New("the engine stopped reading")) // ends the writer, if the engine did not read all
	if werr := <-written; err == nil && werr != nil {
		err = fmt.Errorf("loading into the engine at %s: %w", e.host(), werr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "loaded %s into the engine at %s (%s)\n", b.Ref, e.host(), loaded)
	return nil
}

// current returns the ID of the image the engine lists under ref, or ""
// when it lists none.
func (e Engine) current(ctx context.Context, ref name.Tag) (string, error) {
	c, base, err := e.client()
	if err != nil {
		return "", err
	}
	return e.lookup(ctx, c, base, ref)
}

// lookup is current on a client c of the engine's API at base.
func (e Engine) lookup(ctx context.Context, c *http.Client, base string, ref name.Tag) (string, error) {
	var img struct {
		ID string `json:"Id"`
	}
	status, err := call(ctx, c, http.MethodGet, base+"/images/"+ref.String()+"/json", &img)
	switch {
	case err != nil:
		return "", fmt.Errorf("asking the engine at %s what %s is now: %w", e.host(), ref, err)
	case status == http.StatusNotFound:
		return "", nil
	case status != http.StatusOK || img.ID == "":
		return "", fmt.Errorf("asking the engine at %s what %s is now: it answered %d", e.host(), ref, status)
	}
	return img.ID, nil
}

// putBack points b.Ref at the image prev again, or, when prev is "",
// removes the tag (and the image, if nothing else names it); but only
// while the tag names b's image, which this run loaded: a load that did
// not happen, or a tag moved since by someone else, is left alone. An
// engine names an image by its config's digest (Docker's classic store,
// podman) or its manifest's (Docker's containerd store).
func (e Engine) putBack(ctx context.Context, b build.Result, prev string) error {
	if b.Image == nil {
		return nil // an index, which Deliver refuses to load
	}
	ref := b.Ref
	c, base, err := e.client()
	if err != nil {
		return err
	}
	cur, err := e.lookup(ctx, c, base, ref)
	if err != nil {
		return err
	}
	config, err := b.Image.ConfigName()
	if err != nil {
		return fmt.Errorf("putting %s back in the engine at %s: %w", ref, e.host(), err)
	}
	if cur == "" || cur == prev || (cur != config.String() && cur != b.Digest.String()) {
		return nil
	}
	var status int
	if prev == "" {
		status, err = call(ctx, c, http.MethodDelete, base+"/images/"+ref.String(), nil)
	} else {
		// Named as loaded: as given, not qualified (app, not
		// index.docker.io/library/app).
		q := url.Values{"repo": {strings.TrimSuffix(ref.String(), ":"+ref.TagStr())}, "tag": {ref.TagStr()}}
		status, err = call(ctx, c, http.MethodPost, base+"/images/"+prev+"/tag?"+q.Encode(), nil)
	}
	if err == nil && status/100 != 2 {
		err = fmt.Errorf("it answered %d", status)
	}
	if err != nil {
		return fmt.Errorf("putting %s back in the engine at %s: %w", ref, e.host(), err)
	}
	return nil
}

// call sends a request with no body to an engine and returns its status,
// decoding a 200's JSON answer into out when out is not nil.
func call(ctx context.Context, c *http.Client, method, u string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is the engine's, named by the caller
		}
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxLoadAnswer)).Decode(out); err != nil {
			return 0, fmt.Errorf("reading its answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// load posts body to u and returns what the engine says it loaded.
func (e Engine) load(ctx context.Context, c *http.Client, u string, body io.Reader) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return "", fmt.Errorf("loading into the engine at %s: %w", e.host(), err)
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := c.Do(req)
	if err != nil {
		return "", e.unreachable(err)
	}
	defer resp.Body.Close()
	loaded, err := readLoadStream(resp)
	if err != nil {
		return "", fmt.Errorf("loading into the engine at %s: %w", e.host(), err)
	}
	return loaded, nil
}

// Ping checks that an engine answers at e's host, so that a build to load
// fails before anything is compiled when none does.
func (e Engine) Ping(ctx context.Context) error {
	c, base, err := e.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_ping", nil)
	if err != nil {
		return fmt.Errorf("reaching the engine at %s: %w", e.host(), err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return e.unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the engine at %s answers its ping with %s: is it a Docker Engine API?", e.host(), resp.Status)
	}
	return nil
}

func (e Engine) host() string {
	if e.Host == "" {
		return DefaultEngineHost
	}
	return e.Host
}

// unreachable is the error for an engine that does not answer.
func (e Engine) unreachable(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return fmt.Errorf("no container engine answers at %s (%w): start Docker or `podman system service`, or set DOCKER_HOST", e.host(), err)
}

// client returns an HTTP client for the engine and the base URL of its API.
// Paths carry no API version, which an engine takes as its own.
func (e Engine) client() (*http.Client, string, error) {
	u, err := url.Parse(e.host())
	if err != nil {
		return nil, "", fmt.Errorf("DOCKER_HOST=%s: %w", e.host(), err)
	}
	dialer := &net.Dialer{Timeout: connectTimeout}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			return nil, "", fmt.Errorf("DOCKER_HOST=%s names no socket: give unix:///PATH", e.host())
		}
		tr := &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, "unix", u.Path)
			},
		}
		return &http.Client{Transport: tr}, "http://engine", nil
	case "tcp":
		tr := &http.Transport{DialContext: dialer.DialContext}
		return &http.Client{Transport: tr}, "http://" + u.Host, nil
	default:
		return nil, "", fmt.Errorf("DOCKER_HOST=%s: builder reaches an engine over unix:// or tcp:// (without TLS) only", e.host())
	}
}

// loadMessage is one message of the engine's answer to a load: a JSON
// stream of progress, or a single error object.
type loadMessage struct {
	Stream  string `json:"stream"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

// maxLoadAnswer bounds what is read of the engine's answer.
const maxLoadAnswer = 1 << 20

// readLoadStream reads the engine's answer to a load, and returns what it
// loaded ("Loaded image: app:v1"), or its error on one line.
func readLoadStream(resp *http.Response) (string, error) {
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxLoadAnswer))
	var said []string
	for {
		var m loadMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("the engine answered %s, not a JSON stream: %w", resp.Status, err)
		}
		if msg := firstOf(m.Error, m.Message); msg != "" {
			return "", fmt.Errorf("the engine refused the image: %s", oneLine(msg))
		}
		if s := oneLine(m.Stream); s != "" {
			said = append(said, s)
		}
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the engine answered %s", resp.Status)
	}
	if len(said) == 0 {
		return "", fmt.Errorf("the engine answered %s but said nothing of what it loaded", resp.Status)
	}
	return strings.Join(said, "; "), nil
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// oneLine joins the lines of s, as an engine may answer with several.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}
