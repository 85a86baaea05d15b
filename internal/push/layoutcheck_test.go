package push

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCheckLayoutWhileAnotherWriterMakesIt: a directory that was empty
// when CheckLayout looked for its oci-layout, and that another writer then
// made a layout in, its oci-layout first and then its blobs, is taken for
// the layout it now is, not for a directory of other files. Files with no
// oci-layout are still refused. (Not parallel: it sets markerMissed.)
func TestCheckLayoutWhileAnotherWriterMakesIt(t *testing.T) {
	dir := t.TempDir()
	var made bool
	markerMissed = func(d string) {
		if d != dir || made {
			return
		}
		made = true
		if _, err := initLayout(d); err != nil {
			t.Errorf("the other writer: %v", err)
		}
		if err := os.MkdirAll(filepath.Join(d, "blobs", "sha256"), 0o755); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { markerMissed = func(string) {} })
	if err := CheckLayout(dir); err != nil {
		t.Errorf("CheckLayout while another writer makes the layout = %v, want nil", err)
	}
	if !made {
		t.Fatal("CheckLayout never missed the oci-layout: the test did not run its case")
	}

	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CheckLayout(other); err == nil {
		t.Errorf("CheckLayout of a directory of other files = nil, want an error")
	}
}
