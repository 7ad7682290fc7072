"""IAQverse core: settings, domain, database, storage, event bus, REST/WS API and start-up."""
