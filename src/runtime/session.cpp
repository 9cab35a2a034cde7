// Written by the lead: Session, ActivationStore.
