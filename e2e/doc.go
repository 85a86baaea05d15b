// Package e2e holds the end-to-end tests of builder: they build ./app with
// the real CLI and check the image with tools builder did not write (skopeo,
// crane, podman, umoci and runc). They run only when BUILDER_E2E=1, as root.
package e2e
