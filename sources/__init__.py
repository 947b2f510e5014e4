"""Where documents come from: the Document record and one reader per input format."""
