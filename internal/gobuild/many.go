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
	if err := buildGroups(ctx, all, stale); err != nil {
		return nil, err
	}
	// go build keeps an output whose build ID looks current, whatever else
	// changed (relinking nothing when only a comment changed): one it
	// kept that is no longer, byte for byte, what its stamp recorded is
	// removed and built again.
	bad := make([]bool, len(all))
	var check errgroup.Group
	check.SetLimit(runtime.NumCPU())
	for _, i := range stale {
		if kept[i] != nil {
			check.Go(func() error {
				bad[i] = kept[i].spoilt(all[i].Output)
				return nil
			})
		}
	}
	_ = check.Wait()
	var spoilt []int
	for _, i := range stale {
		if bad[i] {
			_ = os.Remove(all[i].Output)
			spoilt = append(spoilt, i)
		}
	}
	if err := buildGroups(ctx, all, spoilt); err != nil {
		return nil, err
	}
	var stamps errgroup.Group
	stamps.SetLimit(runtime.NumCPU())
	for _, i := range stale {
		if fps[i] == "" {
			continue
		}
		stamps.Go(func() error {
			// A stamp that cannot be written only costs the next build
			// its shortcut.
			if rec, err := record(all[i].Output, fps[i]); err == nil {
				_ = os.WriteFile(all[i].Output+".fingerprint", []byte(rec), 0o644)
			}
			return nil
		})
	}
	_ = stamps.Wait()
	return fresh, nil
}

// buildGroups compiles all[i] for each i in idx, in as few go builds as
// it can, two at a time.
func buildGroups(ctx context.Context, all []Options, idx []int) error {
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
				return Build(gctx, opts[0])
			}
			return buildTogether(gctx, opts)
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
// first output, and moves each binary to its output.
func buildTogether(ctx context.Context, opts []Options) error {
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
	for i, o := range opts {
		pkgs[i], imports[i] = o.Package, o.ImportPath
		units[i] = Unit{Name: execName(o.ImportPath), ImportPath: o.ImportPath}
		if o.Ldflags != "" {
			// A pattern gives each package its own: the link of a main
			// package uses those of the last pattern it matches.
			args = append(args, "-ldflags="+o.ImportPath+"="+o.Ldflags)
		}
	}
	args = append(args, "-o", tmp+string(filepath.Separator))
	args = append(args, pkgs...)
	for _, o := range opts {
		// What BuildMany left in place, go build may find current.
		_ = os.Link(o.Output, filepath.Join(tmp, execName(o.ImportPath)))
	}
	what := fmt.Sprintf("%d services", len(opts))
	if err := run(ctx, first.Dir, env, args, pkgs, what, units, first.Progress); err != nil {
		var ce *CompileError
		if errors.As(err, &ce) {
			ce.Package = strings.Join(imports, ", ")
		}
		return err
	}
	for _, o := range opts {
		if err := move(filepath.Join(tmp, execName(o.ImportPath)), o.Output); err != nil {
			return err
		}
		if err := CheckStatic(o.Output); err != nil {
			return err
		}
	}
	return nil
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
