"""The retention plan of a whole registry, read from the database a version at a time and a page at a time.

The rules are :mod:`vibedash.decisions.retention`'s; here is how a registry of a hundred thousand versions and a
million deploys is planned without holding its deploys in memory, and planned again after a write at the cost of
what the write changed:

* :mod:`.summary` refills the per-version summary the database keeps with triggers (migration 0011);
* :mod:`.facts` reads it, and the deploys, in narrow queries;
* :mod:`.snapshot` keeps the per-version rows a plan read and patches them from the versions changed since;
* :mod:`.versions` derives the per-version arrays and verdicts, shared by every plan of the same versions;
* :mod:`.candidates` reads the few deploys a deploy rule can keep, whole or patched;
* :mod:`.layout` orders versions and kept deploys;
* :mod:`.plan` is :class:`~vibedash.registry.retention.plan.RegistryPlan`, the plan pages and commands read;
* :mod:`.chart` chooses the retention chart's points from a plan.

Nothing is imported here: a page that needs one piece does not load the others.
"""
