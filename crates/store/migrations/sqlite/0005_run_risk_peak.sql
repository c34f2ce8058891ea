-- The riskiest tool call the Tool Gateway assessed in a run (JSON: score,
-- tool, node, attempt, factor names), kept next to risk_level so that an
-- approval gate can weigh the run's calls from the run row it already reads,
-- without a query of its own. NULL until a call of the run is assessed.
ALTER TABLE runs ADD COLUMN risk_peak TEXT;
