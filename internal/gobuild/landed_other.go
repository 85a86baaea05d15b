//go:build !linux

package gobuild

import "errors"

// watchDir is not available here: binaries are taken once go build ends.
func watchDir(string, func(string)) (func(), error) {
	return nil, errors.New("no file events on this system")
}
