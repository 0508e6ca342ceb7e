"""`make demo`: the coupon surge, end to end, on the local runtime."""
