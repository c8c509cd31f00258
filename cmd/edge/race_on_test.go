//go:build race

package main

// raceEnabled: the race detector multiplies memory and CPU, so tests that measure
// either scale down under it.
const raceEnabled = true
