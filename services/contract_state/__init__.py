"""contract-state: owns contracts, their holds and each client's billing standing; publishes every change."""
