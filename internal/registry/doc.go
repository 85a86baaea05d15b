// Package registry is builder's registry client: transport, retries, authentication, referrers and the errors users see.
package registry
