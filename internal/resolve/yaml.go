package resolve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Scheme prefixes the import path of a main package in a YAML string.
const Scheme = "ko://"

// Stdin names the standard input among the files.
const Stdin = "-"

// file is one YAML input and its documents.
type file struct {
	name string
	docs []*yaml.Node
}

// ref is one ko:// string: where it is, and the node to rewrite.
type ref struct {
	where string // "FILE: document N"
	node  *yaml.Node
}

// readInputs reads each of names: a file, a directory (its *.yaml, *.yml
// and *.json files, in name order, not those of its subdirectories) or
// Stdin, read from stdin.
func readInputs(names []string, stdin io.Reader) ([]file, error) {
	var files []file
	for _, n := range names {
		paths, err := expand(n)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			f, err := readFile(p, stdin)
			if err != nil {
				return nil, err
			}
			files = append(files, f)
		}
	}
	return files, nil
}

// expand lists the files name stands for.
func expand(name string) ([]string, error) {
	if name == Stdin {
		return []string{name}, nil
	}
	fi, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	if !fi.IsDir() {
		return []string{name}, nil
	}
	entries, err := os.ReadDir(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, unwrapPath(err))
	}
	var paths []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				paths = append(paths, filepath.Join(name, e.Name()))
			}
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no .yaml, .yml or .json file in the directory", name)
	}
	slices.Sort(paths)
	return paths, nil
}

// unwrapPath drops the operation and path of a *fs.PathError, which the
// caller names itself.
func unwrapPath(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// readFile parses every document of the file at p.
func readFile(p string, stdin io.Reader) (file, error) {
	var data []byte
	var err error
	if p == Stdin {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(p)
	}
	f := file{name: p}
	if p == Stdin {
		f.name = "stdin"
	}
	if err != nil {
		return file{}, fmt.Errorf("%s: %w", f.name, unwrapPath(err))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return f, nil
		}
		if err != nil {
			return file{}, fmt.Errorf("%s: document %d: %w", f.name, len(f.docs)+1, err)
		}
		f.docs = append(f.docs, &doc)
	}
}

// refs returns every ko:// string scalar of the files, in order.
func refs(files []file) []ref {
	var out []ref
	for _, f := range files {
		for i, doc := range f.docs {
			where := fmt.Sprintf("%s: document %d", f.name, i+1)
			walk(doc, func(n *yaml.Node) {
				if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && strings.HasPrefix(n.Value, Scheme) {
					out = append(out, ref{where: where, node: n})
				}
			})
		}
	}
	return out
}

// walk calls fn on n and every node under it, each once: an alias's
// target is visited where it is defined.
func walk(n *yaml.Node, fn func(*yaml.Node)) {
	fn(n)
	for _, c := range n.Content {
		walk(c, fn)
	}
}

// encode writes the files' documents as one YAML stream, indented by two
// spaces as ko writes it.
func encode(w io.Writer, files []file) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	for _, f := range files {
		for i, doc := range f.docs {
			if err := enc.Encode(doc); err != nil {
				return fmt.Errorf("writing %s: document %d: %w", f.name, i+1, err)
			}
		}
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("writing the YAML: %w", err)
	}
	return nil
}
