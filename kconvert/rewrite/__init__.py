"""Rewriting the IR: the one rule API (:mod:`.rules`), lowering for a target (:mod:`.lowering`) and the
compositions targets share (:mod:`.compositions`).  See docs/ARCHITECTURE.md."""
