package registrytest

import "github.com/google/go-containerregistry/pkg/authn"

// Keychain gives every registry the same authenticator, Auth.
type Keychain struct{ Auth authn.Authenticator }

// Resolve returns k.Auth, whatever the resource.
func (k Keychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.Auth, nil }

// Anonymous is the keychain of tests that need no credentials; it keeps the
// user's docker config out of them.
var Anonymous = Keychain{Auth: authn.Anonymous}
