package registrytest

// record adds rec to the requests seen.
func (r *Registry) record(rec Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, rec)
}

// Requests returns the requests seen since the last reset.
func (r *Registry) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Count returns how many requests of kind were served since the last
// reset.
func (r *Registry) Count(kind string) int {
	n := 0
	for _, q := range r.Requests() {
		if q.Kind == kind && q.Served {
			n++
		}
	}
	return n
}

// Spoiled returns how many requests the middleware answered itself since
// the last reset.
func (r *Registry) Spoiled() int {
	n := 0
	for _, q := range r.Requests() {
		if !q.Served {
			n++
		}
	}
	return n
}

// Writes returns how many requests that change the registry were served
// since the last reset.
func (r *Registry) Writes() int {
	return r.Count(KindUpload) + r.Count(KindManifestDigest) + r.Count(KindManifestTag)
}

// Reset forgets the requests seen so far.
func (r *Registry) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = nil
}
