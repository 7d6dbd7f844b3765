"""Order sync: pull engine (cursor, windows, leases, faults) and, later, push intake."""
