package main

import (
	"fmt"
	"io"
	"os"

	"github.com/edge-server/edge/internal/config"
)

// loadConfig reads, decodes and validates a config file. Errors are config.Errors with
// file:line, or a plain error when the file cannot be read at all.
func loadConfig(path string) (*config.Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	return config.Check(path, data, os.LookupEnv, osFS{})
}

// readConfigFile reads at most config.MaxBytes of a config file.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, config.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading config %s: %w", path, err)
	}
	if len(data) > config.MaxBytes {
		return nil, fmt.Errorf("config %s is larger than %d bytes; is it the right file?", path, config.MaxBytes)
	}
	return data, nil
}

// osFS answers config validation's questions from the real file system, with errors
// reduced to their reason (the message around them names the path).
type osFS struct{}

func (osFS) IsDir(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return unwrapPathError(err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is a file, not a directory", path)
	}
	return nil
}

func (osFS) ReadFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	return b, unwrapPathError(err)
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
