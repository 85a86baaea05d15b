package main

// settingsHelp says where a service's image settings live and what builder
// adds on its own; build and publish show it.
const settingsHelp = `A service's image settings live in its build entry of .ko.yaml, under the
key "builder", which ko ignores, so that ko build keeps working:

  builds:
  - id: api
    main: ./cmd/api
    ldflags: ["-s -w", "-X main.version={{.Git.Tag}}"]
    builder:
      ports: ["8080"]            # exposed; none when absent
      env: [PORT=8080]           # set in the image
      healthcheck:               # none when absent
        http: /healthz           # or: command: [healthcheck] (the binary's own mode)
      user: "65532:65532"        # else the base's
      labels: {team: core}
      annotations: {team: core}
      workingDir: /srv
      args: [--log-json]
      stopSignal: SIGINT
      name: api                  # binary, title and default image name
      deploy:                    # for builder manifests (see its --help)
        probes: {liveness: /healthz, readiness: /readyz}
        metricsPath: /metrics

Flags override them. builder adds nothing the service did not ask for but
the base, the user, the OCI labels (title, version, revision, created,
source, base) and, for an http healthcheck, its probe
/usr/local/bin/builder-probe. The only ldflags it passes on its own are -s -w.`
