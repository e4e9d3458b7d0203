// reference-parse: reads NUL-separated image names on stdin and prints, for each, one JSON
// line with what Docker's reference package (github.com/docker/distribution/reference, as
// packaged by Debian) makes of it with ParseNormalizedNamed: the registry, repository path,
// tag and digest, or the error. A peer to compare ocistream's parseReference against.
package main

import (
	"bufio"
	"bytes"
	_ "crypto/sha256" // registers sha256, so go-digest accepts sha256 digests
	"encoding/json"
	"io"
	"os"

	"github.com/docker/distribution/reference"
)

type result struct {
	OK         bool   `json:"ok"`
	Registry   string `json:"registry,omitempty"`
	Repository string `json:"repository,omitempty"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
	Error      string `json:"error,omitempty"`
}

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		panic(err)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for _, name := range bytes.Split(in, []byte{0}) {
		var r result
		named, err := reference.ParseNormalizedNamed(string(name))
		if err != nil {
			r.Error = err.Error()
		} else {
			r.OK = true
			r.Registry = reference.Domain(named)
			r.Repository = reference.Path(named)
			if t, ok := named.(reference.Tagged); ok {
				r.Tag = t.Tag()
			}
			if d, ok := named.(reference.Digested); ok {
				r.Digest = d.Digest().String()
			}
		}
		if err := enc.Encode(r); err != nil {
			panic(err)
		}
	}
}
