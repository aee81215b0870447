"""Pure decision code: facts, benchmark names, statistics, the gate, the retention plan, policies. No I/O beyond reading a policy file."""
