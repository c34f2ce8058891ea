-- Every model turn's usage, kept the moment the answer arrives (not when
-- the step ends), so a crash never resets a budget: a step's attempt and
-- its run sum these rows, over every claim that ran them. A turn is keyed
-- by the claim that made it, so a re-run after a crash adds its own turns
-- and none is counted twice.
CREATE TABLE model_usage (
    run_id               TEXT    NOT NULL REFERENCES runs(id),
    work_id              TEXT    NOT NULL,
    claim                INTEGER NOT NULL,
    turn                 INTEGER NOT NULL,
    node_id              TEXT    NOT NULL,
    attempt              INTEGER NOT NULL,
    provider             TEXT    NOT NULL,
    model                TEXT    NOT NULL,
    input_tokens         INTEGER NOT NULL,
    output_tokens        INTEGER NOT NULL,
    cached_input_tokens  INTEGER NOT NULL,
    cost_usd             REAL    NOT NULL,
    recorded_at          INTEGER NOT NULL,
    PRIMARY KEY (run_id, work_id, claim, turn)
) STRICT;
