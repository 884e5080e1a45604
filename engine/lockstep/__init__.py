"""The batched search: every poem in flight advanced together, one model step and one
vectorised search step for all (search.Lockstep), with compiled loops (kernels) and a step
scheduler for the searches that keep their own Python loop (scheduler). It writes exactly the
poems engine.decode writes alone; engine/ itself holds the one-poem path. It may import
engine/ (decode, selection, linears, top, stepper); engine/ never imports it."""
