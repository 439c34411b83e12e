import { ValidationError, ValidationPipe } from '@nestjs/common';
import { FieldError, ValidationFailedException } from './errors';

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const field = parent ? (/^\d+$/.test(error.property) ? `${parent}[${error.property}]` : `${parent}.${error.property}`) : error.property;
    for (const message of Object.values(error.constraints ?? {})) {
      out.push({ field, message: message.replace(/^property (\S+) should not exist$/, 'unknown field $1 is not allowed') });
    }
    if (error.children?.length) out.push(...flatten(error.children, field));
  }
  return out;
}

/** The one global pipe: whitelisted DTOs, unknown fields rejected, field-level details in the 400. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    stopAtFirstError: false,
    exceptionFactory: (errors) => {
      const details = flatten(errors);
      const summary = details.length === 1 ? `${details[0].field}: ${details[0].message}` : `${details.length} fields are invalid`;
      return new ValidationFailedException(details, `Validation failed: ${summary}`);
    },
  });
}
