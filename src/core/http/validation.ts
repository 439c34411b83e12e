import { ValidationError, ValidationPipe } from '@nestjs/common';
import { ValidateBy, type ValidationOptions } from 'class-validator';
import { FieldError, ValidationFailedException } from './errors';

/** The constraint `IsPresent` registers; its message replaces "<field> is required" for a missing value. */
const PRESENCE_CONSTRAINT = 'isPresent';

/**
 * A value is required, and a missing one (undefined or null) is answered with `message` instead
 * of the generic "<field> is required": for a rule a client needs spelled out, such as "one of
 * two fields" or "required with another field". `$path` in the message becomes the field's full
 * path (`actions[0].url`).
 */
export function IsPresent(message: string, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: PRESENCE_CONSTRAINT,
      validator: { validate: (value: unknown) => value !== undefined && value !== null, defaultMessage: () => message },
    },
    options,
  );
}

/**
 * A property that is absent (or null: a property that allows null is `@IsOptional()` or skipped by
 * its `@ValidateIf`, so null reaching a failed constraint means it is not allowed) while some
 * constraint still applied to it. Its other messages ("must be a string", "must contain at least
 * 1 elements", ...) all restate that it is missing, so it gets one detail saying so.
 *
 * The pipe deletes `value` from errors that have children, so only an error that still carries
 * the key is judged; array items (numeric properties) keep their own messages, and an unknown
 * field sent as null is still an unknown field.
 */
function isMissing(error: ValidationError): boolean {
  if (!error.constraints || Object.keys(error.constraints).length === 0) return false;
  if ('whitelistValidation' in error.constraints) return false;
  if (/^\d+$/.test(error.property) || error.children?.length) return false;
  return 'value' in error && (error.value === undefined || error.value === null);
}

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const field = parent
      ? /^\d+$/.test(error.property)
        ? `${parent}[${error.property}]`
        : `${parent}.${error.property}`
      : error.property;
    if (isMissing(error)) {
      out.push({
        field,
        message: (error.constraints![PRESENCE_CONSTRAINT] ?? '$path is required').replaceAll('$path', field),
      });
      continue;
    }
    for (const message of Object.values(error.constraints ?? {})) {
      out.push({
        field,
        message: message.replace(/^property (\S+) should not exist$/, 'unknown field $1 is not allowed'),
      });
    }
    if (error.children?.length) out.push(...flatten(error.children, field));
  }
  return out;
}

/**
 * The one global pipe: whitelisted DTOs, unknown fields rejected, field-level details in the 400.
 * A missing required field gets exactly one detail, "<path> is required" (nested ones by path,
 * `rules[0].trigger is required`); a present but invalid value keeps its specific messages.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    stopAtFirstError: false,
    exceptionFactory: (errors) => {
      const details = flatten(errors);
      const summary =
        details.length === 1 ? `${details[0].field}: ${details[0].message}` : `${details.length} fields are invalid`;
      return new ValidationFailedException(details, `Validation failed: ${summary}`);
    },
  });
}
