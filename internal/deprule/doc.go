// Package deprule holds no code: its test enforces edge's dependency rule (DESIGN.md,
// docs/architecture.md) on what `go list` reports, so a stray import fails `make test`
// instead of being found in review.
//
//   - proxy, tls, chat and static never import each other (nor each other's
//     subpackages), directly or through another package;
//   - internal/ packages import none of them, except internal/config, which decodes
//     edge.yaml into their Config types and which only cmd/edge imports;
//   - in the edge binary only cmd/edge reads the environment, and internal/config
//     does not import os (it is given bytes and an env lookup).
package deprule
