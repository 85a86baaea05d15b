package push_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/buildercli/builder/internal/build"
	"github.com/buildercli/builder/internal/enginetest"
	"github.com/buildercli/builder/internal/push"
)

// TestUndoRememberAtOnce: the services of a run remember their outputs
// at once. An engine that is slow to say what a tag names holds up no
// other output's Remember, and Restore puts back every file each
// remembered.
func TestUndoRememberAtOnce(t *testing.T) {
	t.Parallel()
	asked, answer := make(chan struct{}), make(chan struct{})
	var once sync.Once
	host := enginetest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(asked) })
		select {
		case <-answer:
		case <-r.Context().Done():
		}
		http.NotFound(w, r) // the tag names nothing yet
	}))
	b := build.Result{Ref: name.MustParseReference("app:v1").(name.Tag)}
	var undo push.Undo
	engineDone := make(chan error, 1)
	go func() { engineDone <- undo.Remember(context.Background(), push.Engine{Host: host}, b) }()
	select {
	case <-asked:
	case <-time.After(time.Minute):
		t.Fatal("the engine was never asked what app:v1 is")
	}

	// While the engine says nothing, the files of sixteen services are
	// remembered at once.
	dir := t.TempDir()
	const n = 16
	files := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range files {
		files[i] = filepath.Join(dir, fmt.Sprintf("svc%d.tar", i))
		if err := os.WriteFile(files[i], []byte(fmt.Sprint("old ", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- undo.Remember(context.Background(), push.TarballFile(files[i]), b)
		}()
	}
	filesDone := make(chan struct{})
	go func() { wg.Wait(); close(filesDone) }()
	select {
	case <-filesDone:
	case <-time.After(time.Minute):
		t.Fatal("remembering files waited for the engine's answer")
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Remember of a file: %v", err)
		}
	}
	close(answer)
	if err := <-engineDone; err != nil {
		t.Fatalf("Remember of the engine: %v", err)
	}

	// Each file is written over, as a delivery does, then put back.
	for i, f := range files {
		tmp := f + ".new"
		if err := os.WriteFile(tmp, []byte(fmt.Sprint("new ", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := undo.Restore(); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	for i, f := range files {
		got, err := os.ReadFile(f)
		if err != nil || string(got) != fmt.Sprint("old ", i) {
			t.Errorf("%s after Restore = %q, %v; want %q", f, got, err, fmt.Sprint("old ", i))
		}
	}
}
