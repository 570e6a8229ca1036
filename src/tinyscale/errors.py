"""The input errors every script reports as one line naming the file or key
(tinyscale.cli.run). Here, with no imports, so that any module (the Snakefile's
included ones too) can raise them without pulling in numpy or torch."""


class ConfigError(ValueError):
    """A config value that cannot be used; the message names the key."""


class DataError(ValueError):
    """A data file that cannot be used; the message names the file."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message names the file."""


class ResultsError(ValueError):
    """A result file a report needs is missing, unreadable or lacks columns."""


INPUT_ERRORS = (ConfigError, DataError, CheckpointError, ResultsError)
