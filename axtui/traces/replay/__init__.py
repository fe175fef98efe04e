"""Replay of recorded traces: faithful (the records re-emitted into a fresh store on a
virtual clock: rollups, alerts and breakers as they were) and counterfactual (every request
re-routed through the real engine with another config, against providers fitted from the
trace). Above the store, the flags and the engine: none of them imports this."""
