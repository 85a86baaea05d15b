package imagespec

import (
	"fmt"
	"maps"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// derived are the labels that come from the build itself; a user's label
// may not override them, or the image would lie about what it is.
var derived = map[string]bool{specs.AnnotationVersion: true, specs.AnnotationRevision: true,
	specs.AnnotationCreated: true, specs.AnnotationBaseImageName: true, specs.AnnotationBaseImageDigest: true}

// CheckUserLabel refuses a label key that the build sets from what it
// knows.
func CheckUserLabel(key string) error {
	if derived[key] {
		return fmt.Errorf("label %s is set by builder from the build itself and cannot be overridden", key)
	}
	return nil
}

// Facts are what an image's labels say of it.
type Facts struct {
	// Title names the application.
	Title string
	// Version is the version built; Revision the commit, when known.
	Version, Revision string
	// Source is where the source can be fetched, when known.
	Source string
	// Created is the image's time: the commit's, never the clock's.
	Created time.Time
	// BaseName names the base; BaseDigest is the base image's digest, empty
	// where it differs by platform.
	BaseName, BaseDigest string
}

// Labels returns the image's labels: the facts', then the user's (extra).
func Labels(f Facts, extra map[string]string) map[string]string {
	l := map[string]string{
		specs.AnnotationTitle:           f.Title,
		specs.AnnotationVersion:         f.Version,
		specs.AnnotationCreated:         f.Created.Format(time.RFC3339),
		specs.AnnotationBaseImageName:   f.BaseName,
		specs.AnnotationBaseImageDigest: f.BaseDigest,
	}
	if f.Revision != "" {
		l[specs.AnnotationRevision] = f.Revision
	}
	if f.Source != "" {
		l[specs.AnnotationSource] = f.Source
	}
	maps.Copy(l, extra)
	return l
}
