package engine

import (
	"path/filepath"

	"github.com/chronik/chronik/wal"
)

// maxMetaBytes bounds meta.json: a file above it is not Chronik's.
const maxMetaBytes = 256 << 20

// readWholeFile reads a small file through fsys.
func readWholeFile(fsys wal.FS, name string) ([]byte, error) {
	return wal.ReadFile(fsys, name, maxMetaBytes)
}

// writeFileAtomic replaces name with data durably (temporary file,
// fdatasync, rename, directory fsync).
func writeFileAtomic(fsys wal.FS, name string, data []byte) error {
	return wal.WriteFileAtomic(fsys, filepath.Dir(name), filepath.Base(name), data)
}
