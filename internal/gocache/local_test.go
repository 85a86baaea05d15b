package gocache

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/buildercli/builder/internal/registry"
)

func TestTrim(t *testing.T) {
	dir := t.TempDir()
	c := startServe(t, Store{Dir: dir})
	for i, a := range []string{"old", "used", "new"} {
		if res := c.put(int64(i+1), actionID(a), []byte("output of "+a)); res.Err != "" {
			t.Fatalf("put: %s", res.Err)
		}
	}
	if err := c.close(10); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	d := disk{dir: dir}
	now := time.Now()
	age := func(a string, by time.Duration) {
		e, ok := d.lookup(hex.EncodeToString(actionID(a)))
		if !ok {
			t.Fatalf("no entry %s", a)
		}
		for _, p := range []string{d.actionPath(e.action), d.outputPath(e.output)} {
			if err := os.Chtimes(p, now.Add(-by), now.Add(-by)); err != nil {
				t.Fatal(err)
			}
		}
	}
	age("old", 6*24*time.Hour)
	age("used", 6*24*time.Hour)
	age("new", 4*24*time.Hour)
	// A temporary file abandoned long ago, and one being written.
	abandoned := filepath.Join(dir, outputsDir, tmpPrefix+"abandoned")
	writing := filepath.Join(dir, outputsDir, tmpPrefix+"writing")
	for _, p := range []string{abandoned, writing} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(abandoned, now.Add(-2*time.Hour), now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The trim of the first Serve was today: none runs now.
	c = startServe(t, Store{Dir: dir})
	if res := c.get(1, actionID("used")); res.Miss {
		t.Fatalf("get of used missed")
	}
	if err := c.close(2); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, ok := d.lookup(hex.EncodeToString(actionID("old"))); !ok {
		t.Fatalf("trimmed twice in a day")
	}
	// A day later it runs: the entry unused for 6 days goes; the one used
	// (touched) just now and the one of 4 days stay.
	stamp := filepath.Join(dir, trimFile)
	if err := os.Chtimes(stamp, now.Add(-25*time.Hour), now.Add(-25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	c = startServe(t, Store{Dir: dir})
	if err := c.close(1); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	for a, want := range map[string]bool{"old": false, "used": true, "new": true} {
		if _, ok := d.lookup(hex.EncodeToString(actionID(a))); ok != want {
			t.Errorf("entry %s kept: %v, want %v", a, ok, want)
		}
	}
	for p, want := range map[string]bool{abandoned: false, writing: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s kept: %v, want %v", p, err == nil, want)
		}
	}
}

type okTransport struct{}

func (okTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

func TestPlainGuard(t *testing.T) {
	g := plainGuard{inner: okTransport{}, insecure: map[string]bool{"reg.lan:5000": true}}
	for url, ok := range map[string]bool{
		"http://10.0.0.1:5000/v2/":  false, // ggcr would try plain HTTP for a private address
		"http://reg.lan:5000/v2/":   true,
		"http://localhost:5000/v2/": true,
		"http://127.0.0.1:5000/v2/": true,
		"https://10.0.0.1:5000/v2/": true,
		"http://registry.test/v2/":  false,
	} {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := g.RoundTrip(req)
		if resp != nil {
			_ = resp.Body.Close()
		}
		if (err == nil) != ok || (err != nil && !errors.Is(err, registry.ErrPlainHTTP)) {
			t.Errorf("%s: %v, want allowed %v", url, err, ok)
		}
	}
}

// TestRunMustBeHex: a run's name becomes part of file names under Dir, so
// only hex is taken.
func TestRunMustBeHex(t *testing.T) {
	for _, run := range []string{"../up", "a/b", "zz", "abc"} {
		s := Store{Dir: t.TempDir(), Run: run}
		if err := s.Serve(context.Background(), strings.NewReader(""), io.Discard); err == nil || !strings.Contains(err.Error(), "hex") {
			t.Errorf("Serve with run %q = %v, want it refused", run, err)
		}
	}
}

// TestSpecialFileEntryIsAMiss: a FIFO where an action's entry is kept
// makes a get a miss; reading it would block the cache program, and go
// build with it, forever.
func TestSpecialFileEntryIsAMiss(t *testing.T) {
	dir := t.TempDir()
	d := disk{dir: dir}
	p := d.actionPath(hex.EncodeToString(actionID("fifo")))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	c := startServe(t, Store{Dir: dir})
	got := make(chan response, 1)
	go func() { got <- c.get(1, actionID("fifo")) }()
	select {
	case r := <-got:
		if !r.Miss || r.Err != "" {
			t.Errorf("get of an action whose entry is a FIFO = %+v, want a miss", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("get hangs on an action whose entry is a FIFO")
	}
	if err := c.close(2); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestSpecialFileNoteIsSkipped: a FIFO among a run's notes is not read (it
// would block the build's end); the other notes are still taken.
func TestSpecialFileNoteIsSkipped(t *testing.T) {
	dir := t.TempDir()
	d := disk{dir: dir}
	s := Store{Dir: dir, Run: "run1"}
	if err := os.MkdirAll(filepath.Join(dir, notesDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := d.note(s.Run, "the cache is off"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, notesDir, notePrefix(s.Run)+"fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := make(chan []string, 1)
	go func() { got <- s.TakeNotes() }()
	select {
	case notes := <-got:
		if len(notes) != 1 || notes[0] != "the cache is off" {
			t.Errorf("TakeNotes = %q, want the one note", notes)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("TakeNotes hangs on a FIFO among the notes")
	}
}
