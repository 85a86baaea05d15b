package push_test

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/buildercli/builder/internal/push"
)

// repoTags returns the RepoTags of each image in the manifest.json of the
// docker-archive at p, each sorted.
func repoTags(t *testing.T, p string) [][]string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatalf("opening %s: %v", p, err)
	}
	t.Cleanup(func() { f.Close() })
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s has no manifest.json", p)
		}
		if err != nil {
			t.Fatalf("reading %s: %v", p, err)
		}
		if hdr.Name != "manifest.json" {
			continue
		}
		var m tarball.Manifest
		if err := json.NewDecoder(tr).Decode(&m); err != nil {
			t.Fatalf("decoding manifest.json: %v", err)
		}
		var out [][]string
		for _, d := range m {
			tags := append([]string(nil), d.RepoTags...)
			sort.Strings(tags)
			out = append(out, tags)
		}
		return out
	}
}

func TestTarball(t *testing.T) {
	img, want := randomImage(t)
	tags := []name.Tag{
		tag(t, "example.com/team/app:v1.2.3"),
		tag(t, "example.com/team/app:latest"),
		tag(t, "localhost:5000/app:dev"),
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "app.tar")
	if err := push.Tarball(img, tags, p); err != nil {
		t.Fatalf("Tarball: %v", err)
	}

	for _, tg := range tags {
		t.Run(tg.String(), func(t *testing.T) {
			got, err := tarball.ImageFromPath(p, &tg)
			if err != nil {
				t.Fatalf("ImageFromPath(%s): %v", tg, err)
			}
			if diff := cmp.Diff(want, digestOf(t, got)); diff != "" {
				t.Errorf("digest read back (-want +got):\n%s", diff)
			}
			if err := validate.Image(got); err != nil {
				t.Errorf("validate.Image: %v", err)
			}
		})
	}

	wantTags := [][]string{{"example.com/team/app:latest", "example.com/team/app:v1.2.3", "localhost:5000/app:dev"}}
	if diff := cmp.Diff(wantTags, repoTags(t, p)); diff != "" {
		t.Errorf("manifest.json RepoTags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"app.tar"}, listDir(t, dir)); diff != "" {
		t.Errorf("directory after Tarball (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("stat %s: %v", p, err)
	}
	if got := fi.Mode().Perm(); got != 0o644 {
		t.Errorf("mode of %s = %v, want 0644", p, got)
	}
}

func TestTarballReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.tar")
	tg := tag(t, "example.com/app:v1")
	first, _ := randomImage(t)
	if err := push.Tarball(first, []name.Tag{tg}, p); err != nil {
		t.Fatalf("first Tarball: %v", err)
	}
	second, want := randomImage(t)
	if err := push.Tarball(second, []name.Tag{tg}, p); err != nil {
		t.Fatalf("second Tarball: %v", err)
	}
	got, err := tarball.ImageFromPath(p, &tg)
	if err != nil {
		t.Fatalf("ImageFromPath: %v", err)
	}
	if diff := cmp.Diff(want, digestOf(t, got)); diff != "" {
		t.Errorf("digest after replacing (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"app.tar"}, listDir(t, dir)); diff != "" {
		t.Errorf("directory after Tarball (-want +got):\n%s", diff)
	}
}

func TestTarballErrors(t *testing.T) {
	img, _ := randomImage(t)
	tg := tag(t, "example.com/app:v1")
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to write
		img   func(t *testing.T) v1.Image
		tags  []name.Tag
	}{
		{
			name:  "missing directory",
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "absent", "app.tar") },
			tags:  []name.Tag{tg},
		},
		{
			name: "path is a directory",
			setup: func(t *testing.T, dir string) string {
				p := filepath.Join(dir, "app.tar")
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatalf("making %s: %v", p, err)
				}
				return p
			},
			tags: []name.Tag{tg},
		},
		{
			name:  "no tags",
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "app.tar") },
		},
		{
			name:  "unreadable layer",
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "app.tar") },
			img:   brokenImage,
			tags:  []name.Tag{tg},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := tc.setup(t, dir)
			before := tree(t, dir)
			src := img
			if tc.img != nil {
				src = tc.img(t)
			}
			if err := push.Tarball(src, tc.tags, p); err == nil {
				t.Fatalf("Tarball(%s) succeeded, want an error", p)
			}
			if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
				t.Errorf("directory after a failed Tarball (-want +got):\n%s", diff)
			}
		})
	}
}

// A failed write leaves a file already at the path as it was.
func TestTarballFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "app.tar")
	tg := tag(t, "example.com/app:v1")
	img, want := randomImage(t)
	if err := push.Tarball(img, []name.Tag{tg}, p); err != nil {
		t.Fatalf("Tarball: %v", err)
	}
	before := tree(t, dir)
	if err := push.Tarball(brokenImage(t), []name.Tag{tg}, p); err == nil {
		t.Fatalf("Tarball of a broken image succeeded")
	}
	if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
		t.Errorf("directory after a failed Tarball (-want +got):\n%s", diff)
	}
	got, err := tarball.ImageFromPath(p, &tg)
	if err != nil {
		t.Fatalf("ImageFromPath: %v", err)
	}
	if diff := cmp.Diff(want, digestOf(t, got)); diff != "" {
		t.Errorf("digest after a failed overwrite (-want +got):\n%s", diff)
	}
}
