package engine

// TestBatch and MakeTestBatch let the external tests build raw batches.
type TestBatch struct {
	Values     [][]byte
	BaseTs     int64
	TsStep     int64
	Idempotent bool
	ProducerID int64
	Epoch      int16
	BaseSeq    int32
}

func MakeTestBatch(b TestBatch) []byte {
	return makeBatch(testBatch{values: b.Values, baseTs: b.BaseTs, tsStep: b.TsStep, idempotent: b.Idempotent, producerID: b.ProducerID, epoch: b.Epoch, baseSeq: b.BaseSeq})
}

// ParkedFetches is the number of long-poll fetches parked on b.
func ParkedFetches(b *Broker) int {
	b.parkMu.Lock()
	defer b.parkMu.Unlock()
	return len(b.parked)
}
