package gobuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sync/errgroup"
)

// BuildMany compiles every one of all, as Build does, but in as few go
// builds as it can: packages that share a directory, platform,
// environment, flags and cache program, and whose binaries are named
// apart, are compiled by one go build, which compiles the packages they
// share once and links them in parallel. Each keeps its own ldflags. With
// cached, a binary whose fingerprint is unchanged is not built again (see
// BuildIfChanged); fresh[i] says so of all[i].
func BuildMany(ctx context.Context, all []Options, cached bool) (fresh []bool, err error) {
	return BuildEach(ctx, all, cached, nil)
}

// BuildEach is BuildMany, and calls done(i) as soon as all[i]'s binary is
// in place, checked and final, which may be long before the go build that
// links it ends: a binary up to date is done at once, and one that a go
// build of several links is done when go build puts it in place (where
// the system tells). done may be called from several goroutines at once,
// and should return quickly. It is called once for each binary of a build
// that succeeds, and may have been called for some of one that fails:
// what it was given stays true of the sources built.
func BuildEach(ctx context.Context, all []Options, cached bool, done func(i int)) (fresh []bool, err error) {
	if done == nil {
		done = func(int) {}
	}
	fresh = make([]bool, len(all))
	fps := make([]string, len(all))
	kept := make([]*kept, len(all))
	if cached {
		trees := map[string]string{}
		for i, opts := range all {
			fps[i] = fingerprintWith(opts, trees)
		}
		var g errgroup.Group
		g.SetLimit(runtime.NumCPU())
		for i, opts := range all {
			g.Go(func() error {
				fresh[i], kept[i] = checkStamp(opts.Output, fps[i])
				return nil
			})
		}
		_ = g.Wait()
	}
	defer func() {
		for _, k := range kept {
			if k != nil {
				_ = os.Remove(k.link)
			}
		}
	}()
	var stale []int
	for i, opts := range all {
		if fresh[i] {
			done(i)
			continue
		}
		if cached {
			// A binary without a stamp to check it against is not left
			// for go build to reuse.
			if kept[i] == nil {
				_ = os.Remove(opts.Output)
			}
			_ = os.Remove(opts.Output + ".fingerprint")
		}
		stale = append(stale, i)
	}
	stamp := func(i int) {
		if fps[i] == "" {
			return
		}
		// A stamp that cannot be written only costs the next build its
		// shortcut.
		if rec, err := record(all[i].Output, fps[i]); err == nil {
			_ = os.WriteFile(all[i].Output+".fingerprint", []byte(rec), 0o644)
		}
	}
	// go build keeps an output whose build ID looks current, whatever else
	// changed (relinking nothing when only a comment changed): one it
	// kept that is no longer, byte for byte, what its stamp recorded is
	// removed and built again.
	bad := make([]bool, len(all))
	err = buildGroups(ctx, all, stale, func(i int) {
		if kept[i] != nil && kept[i].spoilt(all[i].Output) {
			_ = os.Remove(all[i].Output)
			bad[i] = true
			return
		}
		stamp(i)
		done(i)
	})
	if err != nil {
		return nil, err
	}
	var spoilt []int
	for _, i := range stale {
		if bad[i] {
			spoilt = append(spoilt, i)
		}
	}
	err = buildGroups(ctx, all, spoilt, func(i int) {
		stamp(i)
		done(i)
	})
	if err != nil {
		return nil, err
	}
	return fresh, nil
}

// buildGroups compiles all[i] for each i in idx, in as few go builds as
// it can, two at a time, and calls landed(i) once all[i]'s binary is in
// place and checked (possibly before its go build ends, and from several
// goroutines at once).
func buildGroups(ctx context.Context, all []Options, idx []int, landed func(i int)) error {
	groups, err := group(all, idx)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for _, grp := range groups {
		g.Go(func() error {
			opts := make([]Options, len(grp))
			for j, i := range grp {
				opts[j] = all[i]
			}
			if len(opts) == 1 {
				if err := Build(gctx, opts[0]); err != nil {
					return err
				}
				landed(grp[0])
				return nil
			}
			return buildTogether(gctx, opts, func(j int) { landed(grp[j]) })
		})
	}
	return g.Wait()
}

// group sorts the indexes of all in idx into go builds: those that can be
// built together, in their order, each binary name once a group.
func group(all []Options, idx []int) ([][]int, error) {
	var groups [][]int
	var keys []string
	names := map[int]map[string]bool{}
	for _, i := range idx {
		opts := all[i]
		env, err := Environ(opts)
		if err != nil {
			return nil, err
		}
		key := ""
		if opts.ImportPath != "" {
			key = fmt.Sprintf("%s\x00%s\x00%q\x00%q", opts.Dir, opts.Platform.String(), env, opts.Flags)
		}
		exe := execName(opts.ImportPath)
		placed := false
		for gi := range groups {
			if key != "" && keys[gi] == key && !names[gi][exe] {
				groups[gi] = append(groups[gi], i)
				names[gi][exe] = true
				placed = true
				break
			}
		}
		if !placed {
			groups = append(groups, []int{i})
			keys = append(keys, key)
			names[len(groups)-1] = map[string]bool{exe: true}
		}
	}
	return groups, nil
}

// execName is the name go build -o DIR/ gives the binary of the package
// at importPath: its last element, or the one before a major version
// suffix v2, v3…. It follows the go command's rule, which differs from
// source.NameOf's at v0 and v1 (go keeps them as names): this one finds the
// file go wrote, NameOf names the image.
func execName(importPath string) string {
	dir, elem := path.Split(importPath)
	if isVersionElement(elem) && dir != "" {
		return path.Base(dir)
	}
	return elem
}

func isVersionElement(s string) bool {
	if len(s) < 2 || s[0] != 'v' || s[1] == '0' || s[1] == '1' && len(s) == 2 {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// buildTogether compiles the packages of opts, which share everything but
// their ldflags and outputs, in one go build into a directory beside the
// first output, moves each binary to its output, and calls landed(j) once
// opts[j]'s is there and checked. go build puts each binary in the
// directory once it is linked, whole, by a rename where its temporary
// directory is on the same file system (else by a copy), and never writes
// it again: where the system reports that rename, a binary is moved while
// the others still link, so that its image can be made.
func buildTogether(ctx context.Context, opts []Options, landed func(j int)) error {
	first := opts[0]
	env, err := Environ(first)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Dir(first.Output)), ".go-build-")
	if err != nil {
		return fmt.Errorf("making a build directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	args := buildArgs(first.Flags)
	pkgs := make([]string, len(opts))
	imports := make([]string, len(opts))
	units := make([]Unit, len(opts))
	names := map[string]int{}
	for i, o := range opts {
		pkgs[i], imports[i] = o.Package, o.ImportPath
		units[i] = Unit{Name: execName(o.ImportPath), ImportPath: o.ImportPath}
		names[units[i].Name] = i
		if o.Ldflags != "" {
			// A pattern gives each package its own: the link of a main
			// package uses those of the last pattern it matches.
			args = append(args, "-ldflags="+o.ImportPath+"="+o.Ldflags)
		}
	}
	args = append(args, "-o", tmp+string(filepath.Separator))
	args = append(args, pkgs...)
	for j, o := range opts {
		// What BuildMany left in place, go build may find current.
		_ = os.Link(o.Output, filepath.Join(tmp, units[j].Name))
	}
	moved := make([]bool, len(opts))
	taken := make([]bool, len(opts))
	stop := func() {}
	if w, err := watchDir(tmp, func(name string) {
		// Only this function touches moved and taken until stop returns.
		j, ok := names[name]
		if !ok || moved[j] {
			return
		}
		if move(filepath.Join(tmp, name), opts[j].Output) != nil {
			return
		}
		moved[j] = true
		if CheckStatic(opts[j].Output) == nil {
			taken[j] = true
			landed(j)
		}
	}); err == nil {
		stop = w
	}
	what := fmt.Sprintf("%d services", len(opts))
	err = run(ctx, first.Dir, env, args, pkgs, what, units, first.Progress)
	stop()
	if err != nil {
		var ce *CompileError
		if errors.As(err, &ce) {
			ce.Package = strings.Join(imports, ", ")
		}
		return err
	}
	// What was not seen yet: go build left it as it was, or its event
	// came late or not at all.
	var rest errgroup.Group
	rest.SetLimit(runtime.NumCPU())
	for j, o := range opts {
		if taken[j] {
			continue
		}
		rest.Go(func() error {
			if !moved[j] {
				if err := move(filepath.Join(tmp, units[j].Name), o.Output); err != nil {
					return err
				}
			}
			if err := CheckStatic(o.Output); err != nil {
				return err
			}
			landed(j)
			return nil
		})
	}
	return rest.Wait()
}

// move renames from to to, or copies it where a rename cannot.
func move(from, to string) error {
	if err := os.Rename(from, to); err == nil {
		return nil
	}
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("moving the binary %s: %w", from, err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("moving the binary to %s: %w", to, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return fmt.Errorf("moving the binary to %s: %w", to, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("moving the binary to %s: %w", to, err)
	}
	return nil
}
