package main

// Build information. The builder sets these at link time with
// -ldflags "-X main.version=... -X main.commit=... -X main.date=...",
// so their names are a contract with it: do not rename them.
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)
