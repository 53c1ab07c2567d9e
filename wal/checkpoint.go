package wal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
)

// Checkpoint files in a partition directory. Each is text: a version line
// ("0"), a count line, then count entry lines, written atomically.
const (
	leaderEpochCheckpoint    = "leader-epoch-checkpoint"          // "epoch startOffset"
	logStartOffsetCheckpoint = "log-start-offset-checkpoint"      // "offset"
	recoveryPointCheckpoint  = "recovery-point-offset-checkpoint" // "offset"
	cleanMarker              = ".clean"
	checkpointVersion        = 0
	maxCheckpointBytes       = 1 << 20
)

// errCorruptCheckpoint marks a checkpoint file that cannot be parsed.
var errCorruptCheckpoint = errors.New("wal: corrupt checkpoint file")

// WriteFileAtomic writes data to dir/name via a synced temporary file, a
// rename and a directory sync: after a crash the file holds either its old
// or its new contents, never a mix.
func WriteFileAtomic(fsys FS, dir, name string, data []byte) error {
	final := filepath.Join(dir, name)
	tmp := final + tmpSuffix
	f, err := fsys.OpenFile(tmp, osCreateRDWR|osTrunc, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", final, err)
	}
	if _, err = f.WriteAt(data, 0); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, final)
	}
	if err == nil {
		err = fsys.SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", final, err)
	}
	return nil
}

// writeCheckpoint writes the versioned line format.
func writeCheckpoint(fsys FS, dir, name string, lines []string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(lines))
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return WriteFileAtomic(fsys, dir, name, b.Bytes())
}

// readCheckpoint returns the entry lines of a checkpoint, or nil if the file
// does not exist.
func readCheckpoint(fsys FS, dir, name string) ([]string, error) {
	path := filepath.Join(dir, name)
	data, err := readFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if len(lines) < 2 || lines[0] != strconv.Itoa(checkpointVersion) {
		return nil, fmt.Errorf("read %s: bad version: %w", path, errCorruptCheckpoint)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("read %s: bad count %q: %w", path, lines[1], errCorruptCheckpoint)
	}
	return lines[2:], nil
}

func readFile(fsys FS, path string) ([]byte, error) {
	data, err := ReadFile(fsys, path, maxCheckpointBytes)
	if errors.Is(err, ErrFileTooLarge) {
		return nil, fmt.Errorf("%w: %w", err, errCorruptCheckpoint)
	}
	return data, err
}

// ErrFileTooLarge is returned by ReadFile for a file above its bound.
var ErrFileTooLarge = errors.New("wal: file larger than allowed")

// ReadFile reads a small whole file through fsys; a file larger than
// maxBytes is refused with ErrFileTooLarge rather than read.
func ReadFile(fsys FS, path string, maxBytes int64) ([]byte, error) {
	f, err := fsys.OpenFile(path, osRDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > maxBytes {
		return nil, fmt.Errorf("read %s: %d bytes: %w", path, size, ErrFileTooLarge)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && size > 0 {
		return nil, err
	}
	return data, nil
}

func readOffsetCheckpoint(fsys FS, dir, name string) (offset int64, ok bool, err error) {
	lines, err := readCheckpoint(fsys, dir, name)
	if err != nil || lines == nil {
		return 0, false, err
	}
	if len(lines) != 1 {
		return 0, false, fmt.Errorf("read %s: %d entries: %w", name, len(lines), errCorruptCheckpoint)
	}
	offset, err = strconv.ParseInt(lines[0], 10, 64)
	if err != nil || offset < 0 {
		return 0, false, fmt.Errorf("read %s: offset %q: %w", name, lines[0], errCorruptCheckpoint)
	}
	return offset, true, nil
}

func writeOffsetCheckpoint(fsys FS, dir, name string, offset int64) error {
	return writeCheckpoint(fsys, dir, name, []string{strconv.FormatInt(offset, 10)})
}
