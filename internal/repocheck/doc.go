// Package repocheck holds tests of the repository itself, run by `make
// test` like any other package: no build output or large file is tracked
// by git, and the packages depend on each other only in the directions the
// design allows (cmd -> netio, cmd -> engine -> {replicate, wal, raftmeta};
// netio and wal import no other package of ours; test support is not linked
// into the shipped binaries). It has no code of its own.
package repocheck
