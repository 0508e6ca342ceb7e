"""Concert waiting room: queue entry through Kafka, FIFO positions, paced admission, signed tokens, seat holds."""
