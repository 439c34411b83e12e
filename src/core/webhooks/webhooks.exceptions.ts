import { BadRequestException, NotFoundException } from '@nestjs/common';

/** A webhook URL Herald will not send to; the message says why in words a customer can act on. */
export class UndeliverableWebhookUrlException extends BadRequestException {
  constructor(reason: string) {
    super(`Webhook URL refused: ${reason}`);
  }
}

export class WebhookEndpointNotFoundException extends NotFoundException {
  constructor(id: string) {
    super(`Webhook endpoint ${id} not found`);
  }
}

export class InvalidDeliveryQueryException extends BadRequestException {}
