package e2e

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fileView is what the tests check of a file in a layer.
type fileView struct {
	Type     byte
	Mode     int64
	UID, GID int
}

func TestLayerContents(t *testing.T) {
	b := built(t)
	t.Parallel()
	a := readArchive(t, b.tarball)
	if len(a.layers) != 2 {
		t.Fatalf("the image has %d layers, want 2 (base, app)", len(a.layers))
	}
	file := func(mode int64) fileView { return fileView{Type: tar.TypeReg, Mode: mode} }
	dir := func(mode int64, id int) fileView { return fileView{Type: tar.TypeDir, Mode: mode, UID: id, GID: id} }
	for _, tc := range []struct {
		name  string
		layer blob
		want  map[string]fileView // a subset of the layer, except for the app
		exact bool                // the layer's regular files are exactly want's
	}{
		{name: "base", layer: a.layers[0], want: map[string]fileView{
			"etc/passwd":                        file(0o644),
			"etc/group":                         file(0o644),
			"etc/nsswitch.conf":                 file(0o644),
			"etc/os-release":                    file(0o644),
			"etc/ssl/certs/ca-certificates.crt": file(0o644),
			"home/nonroot":                      dir(0o755, 65532),
			"root":                              dir(0o700, 0),
			"tmp":                               dir(0o1777, 0),
		}},
		{name: "app", layer: a.layers[1], exact: true, want: map[string]fileView{
			"usr/local/bin/app": file(0o555),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := readLayer(t, tc.layer)
			got := map[string]fileView{}
			for name, e := range l.files {
				_, wanted := tc.want[name]
				if wanted || (tc.exact && e.hdr.Typeflag != tar.TypeDir) {
					got[name] = fileView{Type: e.hdr.Typeflag, Mode: e.hdr.Mode & 0o7777, UID: e.hdr.Uid, GID: e.hdr.Gid}
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("layer %s mismatch (-want +got):\n%s", tc.layer.name, diff)
			}
		})
	}
	passwd := string(readLayer(t, a.layers[0]).files["etc/passwd"].data)
	if !strings.Contains(passwd, "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", passwd)
	}
}

func TestStaticBinary(t *testing.T) {
	b := built(t)
	t.Parallel()
	a := readArchive(t, b.tarball)
	app, ok := readLayer(t, a.layers[len(a.layers)-1]).files[strings.TrimPrefix(entrypoint, "/")]
	if !ok {
		t.Fatalf("the last layer has no %s", entrypoint)
	}
	f, err := elf.NewFile(bytes.NewReader(app.data))
	if err != nil {
		t.Fatalf("%s is not an ELF file: %v", entrypoint, err)
	}
	want := hostMachine(t)
	if f.Machine != want || f.Class != elf.ELFCLASS64 || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		t.Errorf("%s is %v %v %v, want %v ELFCLASS64 for Linux", entrypoint, f.Class, f.Machine, f.OSABI, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a PT_INTERP program header: it is dynamically linked", entrypoint)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatalf("reading the libraries %s imports: %v", entrypoint, err)
	}
	if len(libs) != 0 {
		t.Errorf("%s imports shared libraries %v, want none", entrypoint, libs)
	}
	t.Logf("%s: %d bytes, %v %v %v", entrypoint, len(app.data), f.Class, f.Machine, f.Type)
}

// hostMachine returns the ELF machine of the host's architecture.
func hostMachine(t *testing.T) elf.Machine {
	t.Helper()
	m, ok := map[string]elf.Machine{
		"amd64":   elf.EM_X86_64,
		"arm64":   elf.EM_AARCH64,
		"ppc64le": elf.EM_PPC64,
		"s390x":   elf.EM_S390,
		"riscv64": elf.EM_RISCV,
	}[runtime.GOARCH]
	if !ok {
		t.Fatalf("no ELF machine known for GOARCH %s", runtime.GOARCH)
	}
	return m
}
