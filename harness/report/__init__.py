"""Reports of finished runs: the sealed evidence bundle, the run history and the council page.

``report`` reads only what runs wrote (bundles, timelines, verdicts); it never imports
``faults``, ``targets`` or ``observe``, so every report can be made again from stored runs.
"""
