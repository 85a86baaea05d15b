package deploy

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/buildercli/builder/internal/atomicfile"
)

// kustomization lists the Kubernetes files for kubectl apply -k.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

// WriteDir writes files into dir, which it creates, with a
// kustomization.yaml that lists the Kubernetes ones. Each file is replaced
// whole or not at all.
func WriteDir(dir string, files []File) error {
	k := kustomization{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization"}
	for _, f := range files {
		if f.Kube {
			k.Resources = append(k.Resources, f.Name)
		}
	}
	if len(k.Resources) > 0 {
		data, err := yaml.Marshal(k)
		if err != nil {
			return fmt.Errorf("writing kustomization.yaml: %w", err)
		}
		files = append(files, File{Name: "kustomization.yaml", Data: data})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for _, f := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.Name), f.Data); err != nil {
			return err
		}
	}
	return nil
}

// Stream writes the Kubernetes files to w as one multi-document YAML, for
// kubectl apply -f -; compose.yaml, which is no Kubernetes object, is left
// out.
func Stream(w io.Writer, files []File) error {
	var buf bytes.Buffer
	for _, f := range files {
		if !f.Kube {
			continue
		}
		if buf.Len() > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(f.Data)
	}
	_, err := w.Write(buf.Bytes())
	return err
}
