package gobuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/buildercli/builder/internal/atomicfile"
	"github.com/buildercli/builder/internal/source"
)

// maxTree bounds the bytes Fingerprint hashes; a larger tree is not
// fingerprinted and always goes to go build.
const maxTree = 64 << 20

// errNoFingerprint says that a build cannot be fingerprinted soundly.
var errNoFingerprint = errors.New("no fingerprint")

// Fingerprint names everything a build of opts reads, so that a build whose
// fingerprint is unchanged can skip go build: the go command (path, size,
// time), the build environment and command line, and the source tree of the
// module (and of directories its go.mod replaces modules with) — the content
// of Go sources, go.mod and go.sum, and the size and time of every other file
// (which //go:embed may read). Modules from the module cache are immutable
// and named by go.sum. A workspace (go.work), or a tree over maxTree bytes,
// is not fingerprinted: it returns "".
func Fingerprint(opts Options) string {
	return fingerprintWith(opts, map[string]string{})
}

// fingerprintWith is Fingerprint, with the hashes of module trees already
// made in trees (and those it makes added), so that packages of one module
// hash it once.
func fingerprintWith(opts Options, trees map[string]string) string {
	fp, err := fingerprint(opts, trees)
	if err != nil {
		return ""
	}
	return fp
}

func fingerprint(opts Options, trees map[string]string) (string, error) {
	h := sha256.New()
	env, err := Environ(opts)
	if err != nil {
		return "", err
	}
	if goWork(opts.Dir, env) {
		return "", errNoFingerprint
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(goCmd)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "go %s %d %d\n", goCmd, fi.Size(), fi.ModTime().UnixNano())
	var goEnv []string
	for _, kv := range env {
		// The cache program changes how fast a binary is made, not its
		// bytes.
		if (strings.HasPrefix(kv, "GO") || strings.HasPrefix(kv, "CGO_")) && !strings.HasPrefix(kv, "GOCACHEPROG=") {
			goEnv = append(goEnv, kv)
		}
	}
	sort.Strings(goEnv)
	fmt.Fprintf(h, "env %q\nargs %q\ndir %s\n", goEnv, Args(opts), opts.Dir)
	// Settings made with `go env -w` live in the GOENV file.
	if data, err := os.ReadFile(goEnvFile(env)); err == nil {
		fmt.Fprintf(h, "goenv %q\n", data)
	}
	root, _, err := source.FindModule(opts.Dir)
	if err != nil {
		return "", err
	}
	tree, ok := trees[root]
	if !ok {
		if tree, err = treeHash(root); err != nil {
			return "", err
		}
		trees[root] = tree
	}
	fmt.Fprintf(h, "tree %s\n", tree)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// treeHash hashes the source tree of the module at root and of the
// directories its go.mod replaces modules with.
func treeHash(root string) (string, error) {
	dirs, err := replacedDirs(root)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	budget := int64(maxTree)
	for _, d := range append([]string{root}, dirs...) {
		if err := hashTree(h, d, &budget); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// goEnvFile is the file `go env -w` writes: $GOENV, else go/env in the
// user's config directory.
func goEnvFile(env []string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "GOENV="); ok {
			return v
		}
	}
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "XDG_CONFIG_HOME="); ok && v != "" {
			return filepath.Join(v, "go", "env")
		}
	}
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "HOME="); ok && v != "" {
			return filepath.Join(v, ".config", "go", "env")
		}
	}
	return ""
}

// goWork reports whether a workspace is in effect for dir.
func goWork(dir string, env []string) bool {
	for i := len(env) - 1; i >= 0; i-- { // the last setting wins
		if v, ok := strings.CutPrefix(env[i], "GOWORK="); ok {
			if v != "" {
				return v != "off"
			}
			break // empty: look for go.work as go does
		}
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return true
		}
		if filepath.Dir(d) == d {
			return false
		}
	}
}

// replacedDirs lists the directories go.mod replaces modules with.
func replacedDirs(root string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, err
	}
	f, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, r := range f.Replace {
		if modfile.IsDirectoryPath(r.New.Path) {
			d := r.New.Path
			if !filepath.IsAbs(d) {
				d = filepath.Join(root, d)
			}
			dirs = append(dirs, filepath.Clean(d))
		}
	}
	sort.Strings(dirs)
	return dirs, nil
}

// hashTree writes every file under root to h, in walk order: the content of
// Go sources and module files, the size and time of the rest. .git is left
// out, and so are nested modules, which the build does not read.
func hashTree(h io.Writer, root string, budget *int64) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" || (p != root && exists(filepath.Join(p, "go.mod"))) {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v %d %d\n", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if !isSource(d.Name()) || !fi.Mode().IsRegular() {
			return nil
		}
		if *budget -= fi.Size(); *budget < 0 {
			return errNoFingerprint
		}
		return hashFile(h, p)
	})
}

func isSource(name string) bool {
	switch filepath.Ext(name) {
	case ".go", ".s", ".h", ".c", ".syso", ".mod", ".sum":
		return true
	}
	return false
}

func hashFile(h io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(h, f)
	return err
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// BuildIfChanged is Build, unless the output exists and was built from the
// same fingerprint (recorded beside it, with the binary's build ID and
// checksum): then it reports true and runs nothing. A binary that no longer
// matches its record (truncated, changed) is removed and built again. The
// output path must be stable from build to build and owned by one build at
// a time.
func BuildIfChanged(ctx context.Context, opts Options) (bool, error) {
	fresh, err := BuildMany(ctx, []Options{opts}, true)
	if err != nil {
		return false, err
	}
	return fresh[0], nil
}

// checkStamp reads the stamp beside the binary at bin. The binary is fresh
// when it was built from fingerprint fp and is still, byte for byte, what
// the stamp recorded (hashing it once). Otherwise, a binary with a stamp
// is returned as kept: left for go build, which reuses an output whose
// build ID looks current, and checked only if go build does (see
// kept.spoilt), so that a change costs no hash of the binary it replaces.
// A binary with neither is to be removed.
func checkStamp(bin, fp string) (fresh bool, k *kept) {
	// A link a killed run left would keep an old binary on disk.
	link := bin + ".before"
	_ = os.Remove(link)
	// Neither go build nor the hash is given anything but a regular file:
	// a FIFO would block them.
	if fi, err := os.Lstat(bin); err != nil || !fi.Mode().IsRegular() {
		return false, nil
	}
	data, err := atomicfile.ReadRegular(bin+".fingerprint", maxStamp)
	if err != nil {
		return false, nil
	}
	built, _, ok := strings.Cut(string(data), " ")
	if !ok {
		return false, nil
	}
	if fp != "" && built == fp {
		want, err := record(bin, built)
		return err == nil && string(data) == want, nil
	}
	// A link to the binary keeps its inode, so that a new binary cannot
	// be given the same one while go build runs.
	if err := os.Link(bin, link); err != nil {
		return false, nil
	}
	return false, &kept{stamp: string(data), built: built, link: link}
}

// maxStamp bounds a stamp: a fingerprint, a build ID and a checksum.
const maxStamp = 1 << 10

// kept is a binary left in place for go build, with its stamp.
type kept struct {
	stamp, built string
	link         string // another name of the binary as it was
}

// spoilt reports whether go build left the binary at bin as it was and
// it is no longer what its stamp recorded. It removes the link.
func (k *kept) spoilt(bin string) bool {
	before, err := os.Stat(k.link)
	_ = os.Remove(k.link)
	if err != nil {
		return true
	}
	after, err := os.Stat(bin)
	if err != nil || !os.SameFile(before, after) {
		return err != nil
	}
	rec, err := record(bin, k.built)
	return err != nil || rec != k.stamp
}

// record is what the stamp beside a binary built from fingerprint fp
// says: fp, the binary's build ID, and the CRC-32C of its content. The
// checksum finds a binary that was truncated, corrupted or written over;
// a cryptographic hash would add nothing, as whoever can write the binary
// can write its stamp too, and would cost a change a hash of every binary
// before the build and after it.
func record(bin, fp string) (string, error) {
	id, err := BuildID(bin)
	if err != nil {
		return "", err
	}
	f, err := os.Open(bin)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fp + " " + id + " crc32c:" + hex.EncodeToString(h.Sum(nil)), nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)
