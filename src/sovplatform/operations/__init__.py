"""Operations: short compositions of plan, substrate, engine and checks (up, down, status, …)."""
