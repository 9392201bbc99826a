"""Files mitmdump loads (``-s``) on HTTP-aware edges; the harness never imports them."""
