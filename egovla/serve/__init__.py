"""The policy server (`egovla serve`): a policy held with its run settings (`served`), batching across
robots (`batcher`) and the websocket server (`server`). What runs on the robot is `egovla.client`."""
