// kafkajs as this package uses it: partition-grouping replaces kafkajs's grouping of a send's
// messages, which it can do only before kafkajs is first loaded.
import './partition-grouping';

export * from 'kafkajs';
