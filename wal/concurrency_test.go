package wal

import (
	"sync"
	"testing"
)

// TestReadersAppendersAndRetentionRunTogether is for the race detector:
// reads never see a partial batch and never use a deleted segment.
func TestReadersAppendersAndRetentionRunTogether(t *testing.T) {
	l, _ := openMem(t, Options{SegmentBytes: 2000, IndexIntervalBytes: 128, RetentionMs: Retain(-1), RetentionBytes: Retain(8000)})
	defer l.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				from := l.LogStartOffset()
				buf, err := l.Read(from, 3000, l.LogEndOffset())
				if err != nil {
					continue // the start moved under us: out of range is fine
				}
				if err := ForEachBatch(buf, func(h BatchHeader, b []byte) bool {
					if !CheckBatchCRC(b) {
						t.Errorf("torn batch at %d", h.BaseOffset)
					}
					return true
				}); err != nil {
					t.Error(err)
				}
				l.OffsetForTimestamp(5)
				l.ScanBatches(from, func(BatchHeader) bool { return true })
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := l.ApplyRetention(l.LogEndOffset()); err != nil {
				t.Error(err)
			}
		}
	}()
	for i := range 500 {
		b := makeBatch(1+i%4, 40, int64(i))
		mustAppend(t, l, b, int32(i/100))
		if i%50 == 0 {
			syncNow(t, l)
		}
	}
	close(stop)
	wg.Wait()
	if _, err := l.ApplyRetention(l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if l.Size() > 8000+2000 {
		t.Fatalf("size %d above retention", l.Size())
	}
}
