"""The eval runner: a problem set put to a version k times per problem, every sample graded and recorded.

    problem_sets   problem files in the solve panel's JSONL and the common dataset layouts (JSONL, parquet)
    runner         runs an evaluation on the version's backend, resumable and cancellable, into the registry
    progress       the progress and ETA of a running evaluation, worded (CLI and pages)
"""
